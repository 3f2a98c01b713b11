"""Feed requests cross to the pose workers as raw bytes: what arrives equals what was sent."""

from __future__ import annotations

import pickle
import uuid

import numpy as np
from ray import cloudpickle

from actors.pose.messages import Feed
from storage.types import PatientSubject


def test_a_feed_survives_pickling_with_and_without_world_landmarks() -> None:
    rng = np.random.default_rng(1)
    t = np.array([1000.0, 1033.3, 1066.7])
    image = rng.uniform(size=(3, 33, 4))
    for world, aspect in ((None, None), (rng.normal(size=(3, 33, 3)), 16 / 9)):
        owner = PatientSubject(uuid.uuid4(), uuid.uuid4())
        sent = Feed(uuid.uuid4(), owner, t, image, aspect, world)
        for dumps in (pickle.dumps, cloudpickle.dumps):
            got = pickle.loads(dumps(sent))
            assert (got.session_id, got.owner, got.aspect) == (
                sent.session_id, sent.owner, sent.aspect
            )  # fmt: skip
            np.testing.assert_array_equal(got.t_ms, t)
            np.testing.assert_array_equal(got.landmarks, image)
            assert got.landmarks.dtype == np.float64 and got.landmarks.shape == (3, 33, 4)
            if world is None:
                assert got.world is None
            else:
                np.testing.assert_array_equal(got.world, world)
