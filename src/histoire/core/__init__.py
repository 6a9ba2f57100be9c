"""The pure core: events, commands, deciders, expected versions, errors. No I/O."""
