console.log('commands');
