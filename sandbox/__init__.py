"""The stack on an embedded AWS emulator (moto): read template.yaml, create its resources, run the
real handlers in-process, turn EMF into metrics, evaluate alarms, deliver alarm events."""
