from . import test_ring_me
