Patients have an SMS consent ("Agrees to SMS", tracked), whose default for new patients is a
company setting (off by default; patients of before the upgrade have none).
