"""A strict fake of Sendbird Notifications: Notifications API, templates, feeds, device API, webhooks."""

from mocks.sendbird.app import DEFAULT_API_TOKEN, DEFAULT_APP_ID, create_app
from mocks.sendbird.service import SendbirdService

__all__ = ["DEFAULT_API_TOKEN", "DEFAULT_APP_ID", "SendbirdService", "create_app"]
