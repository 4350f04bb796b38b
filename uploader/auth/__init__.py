"""Auth: where the profile token comes from (env, file, command, Adobe I/O) and how it is kept secret."""
