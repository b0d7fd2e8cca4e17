# evictsim daemon image.
#
# Build the wheels outside the image first (the build container has no package index):
#   pip wheel --wheel-dir dist/wheels .
#   buildah bud --isolation chroot -t evictsim .        (or docker build -t evictsim .)
#
# Run it beside the kubelet on the node (read-only mounts; evictsim never writes to the node):
#   -v /run/containerd/containerd.sock:/run/containerd/containerd.sock   CRI socket (read-only RPCs only)
#   -v /var/lib/kubelet:/var/lib/kubelet:ro                             kubelet root dir (nodefs, pod volumes, logs)
#   -v /var/log/pods:/var/log/pods:ro                                   container logs
#   -v /sys/fs/cgroup:/sys/fs/cgroup:ro                                 memory.available and the kubepods cgroup
#   --pid=host  so /proc/1/mountinfo is the host's mount table (the command below reads it)
#   -v /run/evictsim:/run/evictsim                                      the what-if API socket
ARG BASE_IMAGE=python:3.11-slim
FROM ${BASE_IMAGE}

COPY dist/wheels/ /tmp/wheels/
RUN python3 -m pip install --no-index --find-links /tmp/wheels evictsim \
    && rm -rf /tmp/wheels

USER 0
ENTRYPOINT ["evictsim"]
CMD ["daemon", "--mountinfo", "/proc/1/mountinfo"]
