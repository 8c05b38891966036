"""Journey files used across the tests."""

ANNOUNCEMENT = """\
format: journey/1
name: Product announcement
target: contacts
audience: {segments: [Most valuable customers], exclude: [Do not contact], suppress: Unsubscribed}
frequency: one-time
schedule: {start: 2026-12-01T09:00, end: 2027-01-31T00:00, timezone: Europe/Paris}
exit_when: [{event: purchase}]
steps:
  announce: {type: email, content: Product announcement email, next: clicked}
  clicked:
    type: if-then
    wait_for: {event: link_clicked, step: announce, link: product-details}
    within: 1d
    yes: launch
    no: end
  launch: {type: wait, until: 2026-12-10T09:00, next: launched}
  launched: {type: sms, content: Product launched text}
content:
  Product announcement email: {kind: email, subject: "Meet the new X", status: ready, links: [product-details]}
  Product launched text: {kind: sms, text: "X is here", status: ready}
segments:
  Most valuable customers:
    entity: contacts
    kind: dynamic
    query: {blocks: [{where: {all: [{attribute: lifetime_value, op: greater_than, value: 275}]}}]}
  Do not contact: {entity: contacts, kind: static}
  Unsubscribed: {entity: contacts, kind: subscription}
"""
