"""Open and click tracking: rewritten links, the open pixel, hits and how they are classified."""
