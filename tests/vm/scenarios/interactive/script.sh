# sessionLeaderInteractive: a session on a real pty (ptyrun) vs. a session without a controlling tty.
install_tool /opt/i/true
install_tool /opt/n/true
in-container sh -s <<'WORKLOAD'
try tty_rc ptyrun sh -c 'tty | sed "s/^/ctty=/"; /opt/i/true'
try notty_rc setsid sh -c '/opt/n/true' </dev/null
WORKLOAD
