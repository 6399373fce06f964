module example.com/inspect

go 1.21
