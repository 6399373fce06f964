module example.com/oraclegen

go 1.18
