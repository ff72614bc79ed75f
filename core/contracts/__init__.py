"""Contracts (PRODUCT A4/C3/C6): sending a PDF for signing, signing it with an SMS-confirmed
PAdES signature per party, ending it (reject, revoke, expire) and verifying uploaded copies.

Modules: states (state machines), engine (CPU work for the process pool and the signing
engine's certificates), send, access (lists, views, downloads), signing, ending,
verification, pages (page images).
"""
