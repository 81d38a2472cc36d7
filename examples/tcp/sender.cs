using System;
using System.IO;
using System.Net.Sockets;

class Sender
{
    static void Main()
    {
        TcpClient client = new TcpClient("127.0.0.1", 9999);
        NetworkStream stream = client.GetStream();

        StreamWriter writer = new StreamWriter(stream);
        writer.AutoFlush = true;

        string data = "Hello, Python!";

        writer.WriteLine(data);

        writer.Close();
        stream.Close();
        client.Close();
    }
}
