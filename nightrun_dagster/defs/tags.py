"""Run tags the night's schedules set and the assets read."""

MODE_TAG = "nightrun/mode"  # exploration | exploitation | maintenance; overrides the weekday
PHASE_TAG = "nightrun/phase"  # warm-up, window, video-slice, images-resume, cool-down, hard-stop
STOP_AT_TAG = "nightrun/stop_at"  # ISO time: the render loop stops submitting then
START_AT_TAG = "nightrun/start_at"  # ISO time: … and submits nothing before (its phase's time)
PRIORITY_TAG = "dagster/priority"  # the queued run coordinator starts higher numbers first
