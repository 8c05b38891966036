"""The journey model: tile registry, journeys, content, segments and the project that holds them."""
