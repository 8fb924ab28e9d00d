# bucketfs in a container (used by docker-compose.yml). The container needs /dev/fuse and
# CAP_SYS_ADMIN to mount: docker run --device /dev/fuse --cap-add SYS_ADMIN --security-opt apparmor:unconfined
FROM node:20-bookworm
RUN apt-get update \
 && apt-get install -y --no-install-recommends fuse3 libfuse2 \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
# native/ first: npm ci's postinstall rebuilds fuse-native with the utimens fix from there.
COPY package.json package-lock.json ./
COPY native ./native
RUN npm ci
COPY tsconfig.json ./
COPY src ./src
COPY bin ./bin
RUN npm run build \
 && npm prune --omit=dev \
 && ln -s /app/bin/bucketfs.js /usr/local/bin/bucketfs \
 && ln -s /app/native/mount.bucketfs /sbin/mount.fuse.bucketfs \
 && mkdir -p /mnt/bucket
ENTRYPOINT ["bucketfs"]
CMD ["--help"]
