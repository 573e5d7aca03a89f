"""In-process fakes of external services for tests."""

from tests.fakes.slack import Call, FakeSlack, fake_slack

__all__ = ["Call", "FakeSlack", "fake_slack"]
