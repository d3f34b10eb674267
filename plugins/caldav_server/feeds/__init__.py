"""Secret, revocable, read-only ICS feed URLs of calendars, for apps that can only subscribe to a URL.

``tokens`` keeps the feeds (only a hash of each token is stored), ``route``
serves ``/feeds/<token>.ics`` without credentials, ``commands`` adds
``teamcal feed create | list | revoke``.
"""
