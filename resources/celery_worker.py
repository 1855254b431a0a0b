"""The Celery app of the platform's workers: ``celery -A resources.celery_worker worker -Q gpu``
(what ``media-platform worker --queue gpu`` runs, from the project folder).

It is dagster-celery's app (``dagster_celery.app``) built from the same arguments as the
executor's (:func:`resources.executors.celery_app_args`: broker, backend, late
acknowledgement, visibility timeout), with the step task registered to survive a lost worker:
when the pool process running a step dies (killed, out of memory), the worker re-sends the step
up to ``MEDIA_PLATFORM_CELERY_STEP_RETRIES`` times, ``MEDIA_PLATFORM_CELERY_RETRY_DELAY_S``
apart, and the run goes on.
"""

from __future__ import annotations

from dagster_celery.make_app import make_app
from dagster_celery.tasks import create_execute_job_task, create_resume_job_task, create_task

from media_platform.settings import get_settings
from resources.executors import celery_app_args

_settings = get_settings()

app = make_app(celery_app_args(_settings))

execute_plan = create_task(
    app,
    acks_late=True,
    retry_on_worker_lost=True,
    reject_on_worker_lost=True,
    max_retries=_settings.celery_step_retries,
    default_retry_delay=_settings.celery_retry_delay_s,
)
execute_job = create_execute_job_task(app)
resume_job = create_resume_job_task(app)
