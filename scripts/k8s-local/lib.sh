# lib.sh: settings and helpers shared by the k8s-local scripts (sourced, not run).
#
# Every setting can be given in the environment. Addresses: the host bridge and every node,
# pod and Service address live in 10.213.0.0/16, which `up` checks is unused on the host first.

top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)

K8S_VERSION=${K8S_VERSION:-v1.34.4}
COREDNS_VERSION=${COREDNS_VERSION:-v1.14.7}
CRICTL_VERSION=${CRICTL_VERSION:-v1.34.0}
PAUSE_TAG=${PAUSE_TAG:-3.10}
K8S_LOCAL_CACHE=${K8S_LOCAL_CACHE:-$top/bin/k8s-local/cache}
# The running cluster: certificates, configs, logs, PIDs, each node's containerd and kubelet.
K8S_LOCAL_DIR=${K8S_LOCAL_DIR:-$top/bin/k8s-local}
KUBECONFIG_OUT=$K8S_LOCAL_DIR/kubeconfig
RUN=$K8S_LOCAL_DIR/run
NODES=(zone-a zone-b zone-c)

# Addresses (a /16 for the whole cluster):
NET_PREFIX=${NET_PREFIX:-10.213}
BRIDGE=${BRIDGE:-edgecdn-k8s0}
HOST_IP=$NET_PREFIX.0.1               # the host end of the bridge; the apiserver listens here
NODE_IP_BASE=10                       # node i (0-based) is $NET_PREFIX.0.$((10+i))
SERVICE_CIDR=$NET_PREFIX.128.0/17     # ClusterIPs
SERVICE_APISERVER_IP=$NET_PREFIX.128.1
CLUSTER_DNS_IP=$NET_PREFIX.128.10
POD_CIDR_ALL=$NET_PREFIX.64.0/18      # node i's pods: $NET_PREFIX.$((64+i)).0/24
ALL_CIDR=$NET_PREFIX.0.0/16
APISERVER_PORT=6443
ETCD_CLIENT=127.0.0.1:${ETCD_PORT:-23790}
ETCD_PEER=127.0.0.1:${ETCD_PEER_PORT:-23800}

log() { printf '[k8s-local %s] %s\n' "$(date +%T)" "$*" >&2; }
die() { printf '[k8s-local %s] error: %s\n' "$(date +%T)" "$*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 is missing${2:+ (Debian package $2)}"; }

node_ip() { echo "$NET_PREFIX.0.$((NODE_IP_BASE + $1))"; }
pod_cidr() { echo "$NET_PREFIX.$((64 + $1)).0/24"; }
kbin() { echo "$K8S_LOCAL_CACHE/kubernetes-$K8S_VERSION/$1"; }
kubectl_() { "$(kbin kubectl)" --kubeconfig "$KUBECONFIG_OUT" "$@"; }

# wait_for DESCRIPTION SECONDS COMMAND...: run COMMAND until it succeeds, or die after SECONDS.
wait_for() {
	local what=$1 secs=$2; shift 2
	local end=$((SECONDS + secs))
	until "$@" >/dev/null 2>&1; do
		[ $SECONDS -ge $end ] && die "timed out after ${secs}s waiting for $what"
		sleep 0.5
	done
}
