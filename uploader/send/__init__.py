"""Send: post batches to Target under the rate limit, retry what is transient, record outcomes."""
