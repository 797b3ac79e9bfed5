"""Offline codes: device enrolment, the signed status list, settling what terminals accepted offline."""
