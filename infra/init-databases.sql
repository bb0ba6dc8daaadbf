CREATE DATABASE paysys_main;
CREATE DATABASE paysys_pay;
