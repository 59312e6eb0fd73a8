#!/bin/sh
# Start of the Odoo container: the same initialisation as the non-Docker path
# (scripts/demo_init.py, here with the demo's call history), then Odoo in production shape:
# prefork workers, two cron workers (the wallboards' publisher runs while calls come in:
# the other one keeps the recordings and the reconciliation on time), the websocket on the gevent port, behind the proxy of
# docker-compose.yml. The addons come from the wheels installed in the image.
set -eu
conf=/var/lib/odoo/medpulse.conf
cat > "$conf" <<CONF
[options]
db_host = ${DB_HOST}
db_port = ${DB_PORT:-5432}
db_user = ${DB_USER}
db_password = ${DB_PASSWORD}
addons_path = /usr/lib/python3/dist-packages/odoo/addons
data_dir = /var/lib/odoo
proxy_mode = True
workers = 2
max_cron_threads = 2
gevent_port = 8072
list_db = False
CONF
# --history: 60 days of calls; the emulator (its own container) reads them, and the names of
# the demo's operators and patients, from the volume they share.
python3 /opt/medpulse/scripts/demo_init.py -c "$conf" -d "${DB_NAME}" \
    --history --emulator-dir /var/lib/medpulse-pbx \
    --pbx-url "${PBX_URL}" --api-key "${MANGO_API_KEY}" --api-salt "${MANGO_API_SALT}" \
    --odoo-url "${ODOO_URL}"
echo "MedPulse is ready: open ${ODOO_URL} (database ${DB_NAME})"
# One database by name, no --db-filter: with a filter, Odoo lists the databases with a new
# PostgreSQL connection for every request without a session, i.e. every PBX request.
exec odoo -c "$conf" -d "${DB_NAME}"
