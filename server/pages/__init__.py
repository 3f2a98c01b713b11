"""The browser pages the server serves: booking, front desk, telerehab, clinician view, sign-in."""
