import socket

HOST = '127.0.0.1'
PORT = 9997

def receive_data():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((HOST, PORT))
        s.listen()

        conn, addr = s.accept()
        with conn:
            print('Connected by', addr)

            while True:
                data = conn.recv(1024).decode()
                if not data:
                    break
                print('Received data:', data)

if __name__ == '__main__':
    receive_data()
