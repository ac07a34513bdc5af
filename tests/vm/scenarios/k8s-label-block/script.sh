# Kubernetes pod labels, namespace and cluster id decide a block in the kernel, and a label changed on
# the API server changes the next decision. tools/vm/k8s-fake-api serves this node's pods (listed in two
# pages) and the namespaces from /tmp/k8s, and streams the watch events appended to /tmp/k8s/pods.watch.
# Three kubelet-shaped pods (cgroup /kubepods/besteffort/pod<uid>/<id>: the agent reads the pod UID
# from the path): payments-0 (prod, app=payments), web-0 (prod, app=web), payments-staging-0 (staging,
# app=payments). The policy refuses /etc writes in app=payments pods of prod in this cluster.
# Then payments-0 becomes app=batch and web-0 app=payments (MODIFIED events): the decisions swap.
K=/tmp/k8s NODE=defend-vm TOKEN=vm-test-token CLUSTER_UID=c1a55e00-0000-4000-8000-00000000c1d0
UID_A=aaaaaaaa-1111-4000-8000-00000000000a CID_A=a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1a1
UID_B=bbbbbbbb-2222-4000-8000-00000000000b CID_B=b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2b2
UID_C=cccccccc-3333-4000-8000-00000000000c CID_C=c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3c3
mkdir -p $K
now_cs() { cut -d' ' -f1 /proc/uptime | tr -d .; }   # guest uptime in centiseconds
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b - a) / 100 }'; }
in_a() { in-container -i $CID_A -p $UID_A "$@"; }
in_b() { in-container -i $CID_B -p $UID_B "$@"; }
in_c() { in-container -i $CID_C -p $UID_C "$@"; }
# pod NAME NAMESPACE UID RESOURCE_VERSION LABELS_JSON CONTAINER_ID IP: a Pod as the API server returns it
pod() {
    printf '{"kind":"Pod","apiVersion":"v1","metadata":{"name":"%s","namespace":"%s","uid":"%s","resourceVersion":"%s",' "$1" "$2" "$3" "$4"
    printf '"creationTimestamp":"2026-12-07T01:00:00Z","labels":%s,"annotations":{"kubernetes.io/config.source":"api"},' "$5"
    printf '"ownerReferences":[{"apiVersion":"apps/v1","kind":"StatefulSet","name":"%s","uid":"owner-%s","controller":true}]},' "${1%-0}" "$3"
    printf '"spec":{"nodeName":"%s","containers":[{"name":"main","image":"busybox"}]},' "$NODE"
    printf '"status":{"phase":"Running","podIP":"%s","podIPs":[{"ip":"%s"}],' "$7" "$7"
    printf '"containerStatuses":[{"name":"main","containerID":"containerd://%s","ready":true}]}}' "$6"
}
ns() { printf '{"kind":"Namespace","apiVersion":"v1","metadata":{"name":"%s","uid":"%s","resourceVersion":"%s"},"status":{"phase":"Active"}}' "$1" "$2" "$3"; }

# The API server's data: list version 200; the first page holds one pod and a continue token.
{
    printf '{"kind":"NamespaceList","apiVersion":"v1","metadata":{"resourceVersion":"200"},"items":['
    ns kube-system $CLUSTER_UID 11; printf ,; ns prod dddddddd-0000-4000-8000-000000000001 12; printf ,
    ns staging dddddddd-0000-4000-8000-000000000002 13; printf ']}\n'
} >$K/namespaces.list.json
{
    printf '{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"200","continue":"page2"},"items":['
    pod payments-0 prod $UID_A 101 '{"app":"payments","tier":"backend"}' $CID_A 10.244.0.10; printf ']}\n'
} >$K/pods.list.json
{
    printf '{"kind":"PodList","apiVersion":"v1","metadata":{"resourceVersion":"200"},"items":['
    pod web-0 prod $UID_B 102 '{"app":"web","tier":"frontend"}' $CID_B 10.244.0.11; printf ,
    pod payments-staging-0 staging $UID_C 103 '{"app":"payments","tier":"backend"}' $CID_C 10.244.0.12; printf ']}\n'
} >$K/pods.list.page2.json
: >$K/pods.watch; : >$K/namespaces.watch
cat >$K/kubeconfig <<KUBECONFIG
apiVersion: v1
kind: Config
clusters:
  - name: vm
    cluster:
      server: http://127.0.0.1:6443
users:
  - name: defend
    user:
      token: $TOKEN
contexts:
  - name: vm
    context: {cluster: vm, user: defend}
current-context: vm
KUBECONFIG

k8s-fake-api -d $K -n $NODE -t $TOKEN 2>>$K/server.err &
server=$!
i=0; while [ ! -e $K/ready ] && [ $i -lt 100 ]; do usleep 100000; i=$((i + 1)); done
test -e $K/ready; echo api_server_ready=$?

if defend-start /out/events.ndjson /out/agent.log --policy /job/policy.yaml --scope containers --log-level debug \
    --kubeconfig $K/kubeconfig --node-name $NODE --cluster-name vm-cluster; then echo agent_ready=0; else echo agent_ready=1; fi
t_ready=$(now_cs)
# The pods' containers start (their cgroups appear while the agent runs).
in_a true; in_b true; in_c true

# Wait (at most 60 s) until the pod list has reached the kernel: a probe write in payments-0 is refused.
probes=0 refused=1
while [ $(( $(now_cs) - t_ready )) -lt 6000 ]; do
    probes=$((probes + 1))
    if ! in_a sh -c "echo probe > /etc/probe-a-$probes" 2>/dev/null; then refused=0; break; fi
    usleep 100000
done
echo probe_a_refused=$refused probes_before_block=$probes pods_to_kernel_s=$(secs $t_ready $(now_cs))

# Phase 1: the same write in each pod.
in_a sh -c 'try p1_a_rc sh -c "echo one > /etc/p1-a"'
in_b sh -c 'try p1_b_rc sh -c "echo one > /etc/p1-b"'
in_c sh -c 'try p1_c_rc sh -c "echo one > /etc/p1-c"'
for x in a b c; do test -e /etc/p1-$x; echo p1_${x}_exists=$?; done

# The labels change on the API server: a bookmark, then payments-0 -> app=batch, web-0 -> app=payments.
t_change=$(now_cs)
{
    echo '201 {"type":"BOOKMARK","object":{"kind":"Pod","apiVersion":"v1","metadata":{"resourceVersion":"201"}}}'
    echo "202 {\"type\":\"MODIFIED\",\"object\":$(pod payments-0 prod $UID_A 202 '{"app":"batch","tier":"backend"}' $CID_A 10.244.0.10)}"
    echo "203 {\"type\":\"MODIFIED\",\"object\":$(pod web-0 prod $UID_B 203 '{"app":"payments","tier":"frontend"}' $CID_B 10.244.0.11)}"
} >$K/events.new
cat $K/events.new >>$K/pods.watch
echo label_change_uptime=$(awk -v t=$t_change 'BEGIN { printf "%.2f", t / 100 }')
# Wait (at most 60 s) until the decisions follow: a probe in web-0 refused and one in payments-0 allowed.
probes=0 swapped=1
while [ $(( $(now_cs) - t_change )) -lt 6000 ]; do
    probes=$((probes + 1))
    if ! in_b sh -c "echo probe > /etc/probe-b-$probes" 2>/dev/null \
        && in_a sh -c "echo probe > /etc/probe-a2-$probes" 2>/dev/null; then swapped=0; break; fi
    usleep 100000
done
echo decisions_swapped=$swapped probes_before_swap=$probes label_to_decision_s=$(secs $t_change $(now_cs))

# Phase 2: the same writes again.
in_a sh -c 'try p2_a_rc sh -c "echo two > /etc/p2-a"'
in_b sh -c 'try p2_b_rc sh -c "echo two > /etc/p2-b"'
in_c sh -c 'try p2_c_rc sh -c "echo two > /etc/p2-c"'
for x in a b c; do test -e /etc/p2-$x; echo p2_${x}_exists=$?; done

usleep 500000
defend-stop 2>>/out/agent.log; echo agent_stop=$?
kill $server
cp $K/requests.log /out/requests.log
cp $K/server.err /out/api-server.err 2>/dev/null
