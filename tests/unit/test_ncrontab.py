"""Timer schedules are six-field NCRONTAB with seconds first, as the Functions host reads them."""

from datetime import UTC, datetime

import pytest

from localdev.host import QueueOptions, next_occurrence, parse_timespan


def test_seconds_come_first() -> None:
    start = datetime(2026, 11, 25, 10, 0, 0, tzinfo=UTC)
    assert next_occurrence("30 * * * * *", start) == datetime(2026, 11, 25, 10, 0, 30, tzinfo=UTC)
    assert next_occurrence("0 */5 * * * *", start) == datetime(2026, 11, 25, 10, 5, 0, tzinfo=UTC)
    assert next_occurrence("0 0 */6 * * *", start) == datetime(2026, 11, 25, 12, 0, 0, tzinfo=UTC)


def test_five_field_cron_is_refused() -> None:
    with pytest.raises(ValueError, match="six fields"):
        next_occurrence("*/5 * * * *", datetime.now(UTC))


def test_host_json_queue_settings_and_defaults() -> None:
    assert parse_timespan("00:00:30") == 30
    assert parse_timespan("1.02:00:00") == 93600
    assert parse_timespan("00:00:00.200") == pytest.approx(0.2)
    defaults = QueueOptions.from_host_json({})
    assert (defaults.batch_size, defaults.new_batch_threshold, defaults.max_dequeue_count) == (16, 8, 5)
    assert defaults.message_encoding == "base64"
    custom = QueueOptions.from_host_json(
        {"extensions": {"queues": {"batchSize": 4, "messageEncoding": "none"}}}
    )
    assert (custom.batch_size, custom.new_batch_threshold, custom.message_encoding) == (4, 2, "none")
