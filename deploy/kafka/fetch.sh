#!/usr/bin/env bash
# Fetches the Apache Kafka broker jars (version pinned in pom.xml) from Maven Central into lib/.
#
# Idempotent: does nothing when lib/ already holds kafka_2.13-<pinned version>.jar.
# Downloads into lib.partial/ and renames at the end, so an interrupted fetch
# never leaves a lib/ that looks complete.
set -euo pipefail
cd "$(dirname "$0")"

version=$(sed -n 's:.*<kafka.version>\(.*\)</kafka.version>.*:\1:p' pom.xml)
if [[ -z "$version" ]]; then
  echo "fetch.sh: cannot read <kafka.version> from pom.xml" >&2
  exit 1
fi
if [[ -f "lib/kafka_2.13-$version.jar" ]]; then
  echo "kafka: jars for $version already in deploy/kafka/lib"
  exit 0
fi
if ! command -v mvn >/dev/null; then
  echo "fetch.sh: mvn not found; install Maven (deploy/setup.sh does it)" >&2
  exit 1
fi

echo "kafka: fetching Apache Kafka $version jars from Maven Central into deploy/kafka/lib"
rm -rf lib.partial
# Maven 3.8 prints stray ANSI resets even in batch mode; strip them.
mvn -q -B dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory=lib.partial 2>&1 |
  sed -e 's/\x1b\[[0-9;]*m//g'
rm -rf lib
mv lib.partial lib
echo "kafka: $(ls lib | wc -l) jars in deploy/kafka/lib"
