# Ten brand-new containers, each creating an executable right after its cgroup appears (like an entrypoint
# that drops a binary at start). With --scope containers every one must be evaluated: the kernel has to
# treat the new cgroup as a container from its first operation, not only once user space has processed
# the cgroup_mkdir record.
i=0
while [ $i -lt 10 ]; do
    in-container -i "$(printf 'ab%062d' $i)" cp /bin/busybox /tmp/work/new$i
    i=$((i + 1))
done
echo created=$(ls /tmp/work | grep -c '^new')
