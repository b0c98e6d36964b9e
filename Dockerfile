# syntax=docker/dockerfile:1
# Build stage 1: the web app.
FROM node:20-bookworm-slim AS web
WORKDIR /src/web
COPY web/package.json web/package-lock.json ./
RUN npm ci --no-audit --no-fund
COPY web/ ./
RUN npm run build

# Build stage 2: the Go binary, pure Go (SQLite via modernc), no cgo.
FROM golang:1.26-bookworm AS build
WORKDIR /src
COPY go.mod go.sum ./
RUN go mod download
COPY . .
COPY --from=web /src/web/dist ./web/dist
ARG VERSION=dev
RUN CGO_ENABLED=0 go build -trimpath -ldflags "-s -w -X main.version=${VERSION}" -o /out/attendant ./cmd/attendant

# Runtime: small Debian with the tools the server calls (ffmpeg decodes
# snapshots), running as an unprivileged user.
FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates tzdata ffmpeg \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 --home-dir /var/lib/attendant --create-home attendant
COPY --from=build /out/attendant /usr/local/bin/attendant
USER attendant
WORKDIR /var/lib/attendant
ENV ATTENDANT_DATA=/var/lib/attendant/data ATTENDANT_HTTP=:8080
VOLUME ["/var/lib/attendant/data"]
EXPOSE 8080
ENTRYPOINT ["/usr/local/bin/attendant"]
CMD ["serve"]
