"""The signing engine: CA, keys, timestamps, seal images, PDF signing and verification.

The PDF, seal and verification functions are pure (bytes in, bytes out) so callers can
run them in a process pool; the services that touch the database live in service.py.
"""
