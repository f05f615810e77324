"""A series takes each verdict once (anomaly and verdict), and its saved state says which it
took, in the same value as the tuning: restored, the same verdict changes nothing."""

from __future__ import annotations

from services.detector.feedback import BIAS_STEP_FP, MAX_GIVEN, Feedback, given_key


def test_a_verdict_is_taken_once_and_the_state_says_so() -> None:
    feedback = Feedback()
    key = given_key("a1", "false_positive")
    assert feedback.take(key, "false_positive", 95.0, 30.0, 50.0) is True
    assert feedback.take(key, "false_positive", 95.0, 30.0, 50.0) is False
    assert feedback.threshold_bias == BIAS_STEP_FP and len(feedback.normal_bands) == 1

    restored = Feedback.from_state(feedback.to_state())
    assert restored.took(key)
    assert restored.take(key, "false_positive", 95.0, 30.0, 50.0) is False
    assert restored == feedback
    # Another verdict on the same anomaly is one of its own.
    assert restored.take(given_key("a1", "true_positive"), "true_positive", 95.0, 30.0, 50.0)


def test_a_true_positive_with_nothing_to_lower_is_still_kept_as_taken() -> None:
    feedback = Feedback()
    assert feedback.take(given_key("a2", "true_positive"), "true_positive", 1.0, 0.0, 2.0)
    assert feedback.threshold_bias == 0.0
    assert Feedback.from_state(feedback.to_state()).took(given_key("a2", "true_positive"))


def test_a_state_saved_without_the_verdicts_taken_loads() -> None:
    old = Feedback.from_state([0.03, [[90.0, 100.0]]])
    assert old == Feedback(0.03, ((90.0, 100.0),))


def test_the_series_remembers_its_last_verdicts_only() -> None:
    feedback = Feedback()
    for i in range(MAX_GIVEN + 3):
        feedback.take(given_key(f"a{i}", "true_positive"), "true_positive", 1.0, 0.0, 2.0)
    assert len(feedback.given) == MAX_GIVEN
    assert not feedback.took(given_key("a0", "true_positive"))
    assert feedback.took(given_key(f"a{MAX_GIVEN + 2}", "true_positive"))
