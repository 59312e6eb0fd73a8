from . import test_concurrency, test_journal, test_security, test_settings, test_webhook
from . import test_incoming_card, test_js, test_card_browser, test_card_alerts_browser
from . import test_click_to_call, test_call_control
from . import test_stats, test_reconcile, test_reports, test_health
from . import test_recordings
from . import test_preferences, test_card_alerts_outcomes
from . import test_access_matrix, test_webhook_security
from . import test_pbx_outages, test_pipeline
from . import test_stalled_events, test_security_review, test_field_access
from . import test_folder
from . import test_crawl, test_view_expressions, test_journal_screens
from . import test_callback
from . import test_refold
from . import test_call_ledger
from . import test_health_alerts
from . import test_sms
from . import test_request_priority
from . import test_reminders
from . import test_confirmation_list
from . import test_reminder_access
from . import test_wallboard
from . import test_wallboard_browser
from . import test_card_appointments
from . import test_call_tally
from . import test_insight
from . import test_insight_browser
from . import test_waitlist, test_waitlist_access, test_waitlist_browser
from . import test_event_retention
