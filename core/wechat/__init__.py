"""The WeChat official account, as the domain sees it.

- accounts: who an openid is, binding, WeChat login and OAuth state
- standing: where a follower stands (bound, verified, contracts waiting)
- protocol: the webhook's message format, signatures and safe-mode crypto
- inbox, inbox_sql: de-duplicated inbound messages and conversation state
- scenes: QR scenes (onboarding posters, PC login, signature-pad hand-over)
- credentials: access tokens and the JS-SDK signature
- menu: the account's menu
- notify: messages we push (customer-service text, template notifications, SMS fallback)
- sim: the built-in chat simulator for development
"""
