-- Run once by the postgres image when its data volume is first initialised (docker-compose.yml).
-- One database per service; each service applies its own migrations at start-up.
CREATE DATABASE paysys_main;
CREATE DATABASE paysys_pay;
-- Only used by the sandbox demo profile.
CREATE DATABASE paysys_sandbox;
