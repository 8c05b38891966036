"""The audience: contacts and accounts in the project file, synthetic populations, CSV import, segments.

- query: the segment query format (plain dicts in Segment.query) and its validator (pure Python)
- compile: queries to SQLAlchemy Core conditions on contacts (bound parameters only)
- members: segment members and counts, a journey's audience, static members and list subscriptions
- population: the seeded synthetic population generator (Faker pools sampled with NumPy)
- csv_import: import of real contacts from CSV with a per-row error report

Nothing is imported here, so that the validator can use `query` without loading NumPy or Faker.
"""
