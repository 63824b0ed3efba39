-- Runs once when the compose PostgreSQL starts on an empty volume: the database the marts
-- are mirrored into, and a login for BI tools (granted read-only access by each mirror).
CREATE DATABASE governance OWNER airflow;
CREATE ROLE bi_reader LOGIN PASSWORD 'bi_reader';
