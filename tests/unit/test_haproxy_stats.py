from chaosha.clients.haproxy import backend_servers, parse_csv

# Captured from the stack's HAProxy 2.6 (columns trimmed to the first few).
SAMPLE = """# pxname,svname,qcur,qmax,scur,smax,slim,stot,bin,bout,dreq,dresp,ereq,econ,eresp,wretr,wredis,status,
stats,FRONTEND,,,1,1,1000,3,0,0,0,0,0,,,,,OPEN,
primary,FRONTEND,,,0,2,900,21,0,0,0,0,0,,,,,OPEN,
primary,pg1,0,0,0,1,300,11,0,0,,0,,0,0,0,0,UP,
primary,pg2,0,0,0,0,300,0,0,0,,0,,0,0,0,0,DOWN,
primary,pg3,0,0,0,0,300,0,0,0,,0,,0,0,0,0,MAINT (resolution),
primary,BACKEND,0,0,0,2,90,21,0,0,0,0,,0,0,0,0,UP,
replicas,pg1,0,0,0,0,300,0,0,0,,0,,0,0,0,0,DOWN,
replicas,pg2,0,0,0,1,300,4,0,0,,0,,0,0,0,0,UP,
"""


def test_backend_servers_leave_out_frontend_and_backend_rows():
    rows = parse_csv(SAMPLE)
    assert backend_servers(rows, "primary") == {"pg1": "UP", "pg2": "DOWN", "pg3": "MAINT (resolution)"}
    assert backend_servers(rows, "replicas") == {"pg1": "DOWN", "pg2": "UP"}
    assert backend_servers(rows, "nope") == {}
