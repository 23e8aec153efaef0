# SPDX-License-Identifier: GPL-2.0
# Tool locations for make, read from scripts/lib.sh so they are set once.
HOST_RUSTC := $(shell bash -c '. $(TOP)/scripts/lib.sh && echo $$HOST_RUSTC')
BINDGEN := $(shell bash -c '. $(TOP)/scripts/lib.sh && echo $$BINDGEN')
