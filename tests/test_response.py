"""Target's XML answers: verdicts, status counters, and hostile or broken bodies."""

from __future__ import annotations

import pytest

from uploader.errors import AuthError, BatchRejected, ServerError, Throttled
from uploader.send._response import parse_status, parse_submit
from uploader.send._transport import HttpAnswer, submit_outcome

OK = (
    b"<response><success>true</success><batchStatus>https://mboxedge45.tt.omtrdc.net/m2/demo/"
    b"profile/batchStatus?batchId=demo-1701473848678-13029383</batchStatus>"
    b"<message>Batch submitted for processing</message></response>"
)


def test_submit_success_keeps_status_url_and_batch_id() -> None:
    result = parse_submit(OK)
    assert result.success and result.message == "Batch submitted for processing"
    assert result.batch_id == "demo-1701473848678-13029383"
    assert result.status_url is not None and result.status_url.startswith("https://mboxedge45.")


def test_submit_failure_has_no_batch_id() -> None:
    body = b"<response><success>false</success><batchStatus></batchStatus><message>Batch is empty</message></response>"
    result = parse_submit(body)
    assert not result.success and result.batch_id is None and result.status_url is None
    assert result.message == "Batch is empty"


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"<response><success>true</success>",  # truncated mid-answer
        b"<html>502 Bad Gateway</html>",
        b"<response><message>no verdict</message></response>",
        b"<response><success>maybe</success></response>",
    ],
)
def test_unreadable_submit_answers_are_transient(body: bytes) -> None:
    with pytest.raises(ServerError):
        parse_submit(body)


def test_entity_expansion_is_refused() -> None:
    bomb = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY a "aaaaaaaaaa">'
        b'<!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;&a;&a;">]>'
        b"<response><success>true</success><message>&b;</message></response>"
    )
    with pytest.raises(ServerError):
        parse_submit(bomb)


def test_external_entities_are_never_fetched() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<response><success>false</success><message>&x;</message></response>"
    )
    with pytest.raises(ServerError):
        parse_submit(xxe)


def test_status_with_details() -> None:
    body = (
        b"<response><batchId>demo-1-2</batchId><status>complete</status><batchSize>10</batchSize>"
        b"<consumedCount>10</consumedCount><successfulUpdates>8</successfulUpdates>"
        b"<profilesNotFound>1</profilesNotFound><failedUpdates>1</failedUpdates></response>"
    )
    status = parse_status(body)
    assert (status.batch_id, status.status, status.batch_size) == ("demo-1-2", "complete", 10)
    assert (status.consumed_count, status.successful_updates) == (10, 8)
    assert (status.profiles_not_found, status.failed_updates) == (1, 1)


def test_status_without_details_has_no_counters() -> None:
    status = parse_status(
        b"<response><batchId>b</batchId><status>incomplete</status><batchSize>3</batchSize></response>"
    )
    assert status.status == "incomplete" and status.batch_size == 3
    assert status.successful_updates is None and status.failed_updates is None


def test_http_answers_map_to_the_error_tree() -> None:
    assert submit_outcome(HttpAnswer(200, OK)).success
    with pytest.raises(AuthError):
        submit_outcome(HttpAnswer(401, b"<response><message>bad token</message></response>"))
    with pytest.raises(AuthError):
        submit_outcome(HttpAnswer(403, b""))
    with pytest.raises(Throttled) as throttled:
        submit_outcome(HttpAnswer(429, b"", retry_after=3.0))
    assert throttled.value.retry_after == 3.0
    with pytest.raises(Throttled):
        submit_outcome(HttpAnswer(503, b""))
    with pytest.raises(ServerError):
        submit_outcome(HttpAnswer(500, b""))
    with pytest.raises(BatchRejected, match="HTTP 413"):
        submit_outcome(HttpAnswer(413, b"too large"))
    with pytest.raises(BatchRejected, match="HTTP 302"):  # redirects are never followed
        submit_outcome(HttpAnswer(302, b""))
    refused = b"<response><success>false</success><message>Unexpected error</message></response>"
    with pytest.raises(BatchRejected, match="Unexpected error"):
        submit_outcome(HttpAnswer(200, refused))
    expired = b"<response><success>false</success><message>Token expired</message></response>"
    with pytest.raises(AuthError):
        submit_outcome(HttpAnswer(200, expired))


# -- Adobe's documented answers, byte for byte (issue: "Speak Target's real answers") ---------

#: Adobe's Bulk Profile Update reference, verbatim: a bare ``&`` (not well-formed XML).
DOC_SUBMIT = (
    b"<response><success>true</success><batchStatus>http://mboxedge17.tt.omtrdc.net/m2/demo/"
    b"v2/profile/batchStatus?batchId=demo-1845664501&m2Node=00</batchStatus>"
    b"<message>Batch submitted for processing</message></response>"
)


def test_documented_submit_answer_with_a_bare_ampersand_is_a_success() -> None:
    result = parse_submit(DOC_SUBMIT)
    assert result.success
    assert result.batch_id == "demo-1845664501"
    assert result.status_url == (
        "http://mboxedge17.tt.omtrdc.net/m2/demo/v2/profile/batchStatus"
        "?batchId=demo-1845664501&m2Node=00"
    )


def test_escaped_ampersands_and_character_references_are_kept() -> None:
    body = (
        b"<response><success>true</success><batchStatus>https://e.tt.omtrdc.net/s?batchId=a"
        b"&amp;x=1&#38;y=2&z=&#x41;</batchStatus><message>ok &amp; more &lt;</message></response>"
    )
    result = parse_submit(body)
    assert result.status_url == "https://e.tt.omtrdc.net/s?batchId=a&x=1&y=2&z=A"
    assert result.message == "ok & more <"


def test_a_bare_ampersand_never_opens_an_entity() -> None:
    body = b"<response><success>false</success><message>a &b; c</message></response>"
    assert parse_submit(body).message == "a &b; c"


CURRENT_STATUS = (
    b"<response><batchId>demo-1-7</batchId><status>complete</status><batchSize>4</batchSize>"
    b"<consumedCount>4</consumedCount><successfulUpdates>2</successfulUpdates>"
    b"<profilesNotFound>0</profilesNotFound><failedUpdates>2</failedUpdates>"
    b"<profile><id>crm-2</id><status>failed</status></profile>"
    b"<profile><id>a&amp;b</id><status>failed</status></profile></response>"
)
LEGACY_STATUS = (
    b"<response><batchId>demo-1-8</batchId><status>complete</status><batchSize>4</batchSize>"
    b"<profile><id>crm-1</id><status>success</status></profile>"
    b"<profile><id>crm-2</id><status>error</status></profile>"
    b"<profile><id>crm-3</id><status>pending</status></profile>"
    b"<profile><id>crm-4</id><status>notFound</status></profile></response>"
)


def test_status_lists_failed_rows_in_the_current_form() -> None:
    status = parse_status(CURRENT_STATUS)
    assert status.failed_ids == ("crm-2", "a&b")
    assert status.not_found_ids == () and status.pending_rows == 0
    assert status.failed_ids_complete


def test_status_lists_failed_rows_in_the_legacy_form() -> None:
    status = parse_status(LEGACY_STATUS)
    assert status.failed_ids == ("crm-2",)
    assert status.not_found_ids == ("crm-4",)
    assert status.pending_rows == 1


def test_unknown_row_status_counts_as_failed() -> None:
    body = (
        b"<response><batchId>b</batchId><status>complete</status><batchSize>1</batchSize>"
        b"<profile><id>x</id><status>rejected</status></profile></response>"
    )
    assert parse_status(body).failed_ids == ("x",)


def test_status_answer_has_its_own_larger_cap() -> None:
    from uploader.send._response import MAX_STATUS_BYTES, MAX_SUBMIT_BYTES

    assert MAX_SUBMIT_BYTES == 1 << 20
    assert MAX_STATUS_BYTES >= 64_000_000
