"""Fixtures of the Python package's tests: one context for the session, and
every test that takes |device| run once per device it lists (the
conformance style: a new backend joins every test without a test
changing)."""
import gc

import pytest

import aidev

CONTEXT = aidev.Context()
DEVICES = CONTEXT.devices


def device_id(device):
    return "%d-%s" % (device.index, device.backend)


def pytest_generate_tests(metafunc):
    if "device" in metafunc.fixturenames:
        metafunc.parametrize("device", DEVICES, ids=[device_id(d) for d in DEVICES])


@pytest.fixture(scope="session")
def ctx():
    return CONTEXT


@pytest.fixture
def queue(device):
    q = device.queue()
    yield q
    q.release()


@pytest.fixture(autouse=True)
def no_leftover_garbage():
    """Objects of a test are collected before the next one starts, so that
    memory-usage checks see only their own buffers."""
    yield
    gc.collect()
