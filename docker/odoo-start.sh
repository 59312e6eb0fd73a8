#!/bin/sh
# First start of the Odoo container: the same initialisation as the non-Docker path
# (scripts/demo_init.py), then Odoo itself. Later starts only re-apply the PBX settings.
set -eu
conf=/var/lib/odoo/medpulse.conf
cat > "$conf" <<CONF
[options]
db_host = ${DB_HOST}
db_port = ${DB_PORT:-5432}
db_user = ${DB_USER}
db_password = ${DB_PASSWORD}
addons_path = /usr/lib/python3/dist-packages/odoo/addons,/mnt/medpulse
data_dir = /var/lib/odoo
proxy_mode = True
CONF
python3 /mnt/medpulse/scripts/demo_init.py -c "$conf" -d "${DB_NAME}" \
    --pbx-url "${PBX_URL}" --api-key "${MANGO_API_KEY}" --api-salt "${MANGO_API_SALT}" \
    --odoo-url "${ODOO_URL}"
echo "MedPulse is ready: open http://localhost:${ODOO_PORT:-8069} (database ${DB_NAME})"
exec odoo -c "$conf" -d "${DB_NAME}" --db-filter "^${DB_NAME}\$"
