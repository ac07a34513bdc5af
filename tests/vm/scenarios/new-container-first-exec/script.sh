# A container created while the agent cannot react (SIGSTOPped) is still protected from its first exec:
# its pod cgroup is known, so the kernel makes the new child cgroup a container in the mkdir itself.
install_tool /opt/app/uname
NEW_ID=feed0000000000000000000000000000000000000000000000000000000000aa
NEW_POD=99999999-8888-7777-6666-555555555555
mkdir -p /sys/fs/cgroup/kubepods/besteffort/pod$NEW_POD
sleep 1                               # the agent reads the pod cgroup's mkdir and marks it
agent=$(pidof defend)
echo agent_found=$([ -n "$agent" ] && echo 1 || echo 0)
kill -STOP $agent
in-container -i $NEW_ID -p $NEW_POD sh -c 'try first_rc /opt/app/uname'
kill -CONT $agent
sleep 1
# A host process is not a container: the same exec runs.
try host_rc /opt/app/uname
