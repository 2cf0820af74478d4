# The demo: boot a Debian minbase microVM and drive it with emberctl
# (scripts/demo.sh). demo-shell leaves the VM running with an interactive
# shell; demo-stop stops it.
demo: all
	scripts/demo.sh run

demo-shell: all
	scripts/demo.sh shell

demo-stop:
	scripts/demo.sh stop
