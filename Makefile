# make              build the release binaries
# make install      install them with the packaging files (DESTDIR=/stage for a staging root)
# make check-dist   check the man pages render without warnings and the units verify

DESTDIR ?=
CARGO ?= cargo

.PHONY: all install check-dist

all:
	$(CARGO) build --release

install: all
	DESTDIR="$(DESTDIR)" bash scripts/install.sh --bindir target/release

check-dist:
	for page in man/*.[0-9]; do groff -ww -man -z "$$page" || exit 1; done
	$(CARGO) test --test host_dist
