"""How the emulated DSS runs things: the job scheduler (activities, build modes, instance-wide activity cap), schema
propagation, and the per-recipe-type executors and schema computers they call.

The scheduler and propagation work on :class:`dss_emulator.state.EmulatorState` and never see HTTP; executors and
schema computers are pure functions of recipe definitions and rows, and never see jobs.
"""
