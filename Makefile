# Makefile - GNU make entry point (Linux): every target is handed to
# bmake with the real build in BSDmakefile.  bmake itself is installed
# first when it is missing.  Variables given on the command line
# (PREFIX=..., DESTDIR=...) are passed on.
BMAKE = bmake
HANDOFF = command -v $(BMAKE) >/dev/null 2>&1 || sh mk/deps.sh build; \
	MAKEFLAGS= MFLAGS= MAKELEVEL= $(BMAKE) -f BSDmakefile

.PHONY: all $(MAKECMDGOALS)
all:
	@$(HANDOFF) all $(MAKEOVERRIDES)

$(filter-out all,$(MAKECMDGOALS)):
	@$(HANDOFF) $@ $(MAKEOVERRIDES)

Makefile: ;
