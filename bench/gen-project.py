#!/usr/bin/env python3
"""Generates a large Compose project for the loader benchmark.

usage: gen-project.py DIR [SERVICES]

DIR gets compose.yaml (SERVICES services, each extending one of ten bases in common.yaml, with
interpolated values, ports, volumes, networks and a dependency on the previous service),
compose.override.yaml (overrides for every service) and .env.
"""
import os
import sys

out = sys.argv[1]
count = int(sys.argv[2]) if len(sys.argv) > 2 else 500
os.makedirs(out, exist_ok=True)

with open(os.path.join(out, "common.yaml"), "w") as f:
    f.write("services:\n")
    for b in range(10):
        f.write(f"""  base-{b}:
    image: busybox:1.36
    restart: unless-stopped
    environment:
      BASE: "{b}"
      LOG_LEVEL: ${{LOG_LEVEL:-info}}
    labels:
      tier: base-{b}
    healthcheck:
      test: ["CMD", "true"]
      interval: 30s
      timeout: 5s
      retries: 3
""")

with open(os.path.join(out, "compose.yaml"), "w") as f:
    f.write("services:\n")
    for i in range(count):
        f.write(f"""  svc{i}:
    extends:
      file: common.yaml
      service: base-{i % 10}
    command: sh -c "echo service {i} && sleep 3600"
    environment:
      - INDEX={i}
      - DB_URL=postgres://db:${{DB_PORT:-5432}}/app{i}
    ports:
      - "{20000 + i}:80"
    volumes:
      - ./data/{i}:/data
      - shared:/shared:ro
    networks:
      - front
      - back
""")
        if i > 0:
            f.write(f"    depends_on:\n      - svc{i - 1}\n")
    f.write("networks:\n  front:\n  back:\n    internal: true\nvolumes:\n  shared:\n")

with open(os.path.join(out, "compose.override.yaml"), "w") as f:
    f.write("services:\n")
    for i in range(count):
        f.write(f"""  svc{i}:
    environment:
      OVERRIDE: "yes"
    ports:
      - "{30000 + i}:8080"
""")

with open(os.path.join(out, ".env"), "w") as f:
    f.write("LOG_LEVEL=debug\nDB_PORT=6543\n")
