import time

from nlpcompress.training.step_timer import StepTimer


class _Logger:
    def __init__(self):
        self.logged = []

    def log_metrics(self, metrics, step):
        self.logged.append((metrics, step))


class _Trainer:
    def __init__(self):
        self.logger, self.is_global_zero, self.global_step = _Logger(), True, 7


def test_median_step_time_is_logged_without_warmup_steps():
    timer = StepTimer(skip=1)
    trainer = _Trainer()
    for i, pause in enumerate([0.05, 0.0, 0.01, 0.0]):
        timer.on_train_batch_start(trainer, None, None, i)
        time.sleep(pause)
        timer.on_train_batch_end(trainer, None, None, None, i)
    assert len(timer.seconds) == 4
    timer.on_train_end(trainer, None)
    ((metrics, step),) = trainer.logger.logged
    assert step == 7
    # steps 2-4 (0, 10 ms, 0): the median is well under the 50 ms first step
    assert metrics["time/train_step_s"] < 0.02
