"""`bokehpipe bench`: seconds and peak memory per photo, the depth pass and training steps on the user's machine,
each measurement in its own process (never run for numbers by the test suite, never asserted on)."""
